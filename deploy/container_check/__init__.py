"""Build the Docker images and run them here, without a Docker engine (`make container-check`).

buildah builds Dockerfile.api and Dockerfile.ui as they are and runs each image's own command;
the check then talks to them from the host. See __main__.py for the steps, README's "What was
verified here" for what this does and does not prove.
"""
