"""Variational Autoencoder demo on MNIST."""
