"""The web app: a Gradio page over the model library `vae`, one module per view under `webapp.views`."""
