"""Figures, diagrams, live slider panels and the static book's latent explorers."""
