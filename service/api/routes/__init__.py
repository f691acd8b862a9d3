"""HTTP routes: thin layers from requests to the runtime and back."""
