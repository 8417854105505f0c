"""Explore a Variational Autoencoder's latent space in the browser: `python app.py` (or `gradio app.py`, or a Space).

The page is built by `webapp.demo.create_demo` from the trained models in weights/ (or $VAE_WEIGHTS_DIR).
"""

from webapp.demo import create_demo, launch

demo = create_demo()

if __name__ == "__main__":
    launch(demo)
