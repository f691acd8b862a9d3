"""The Streamlit drawing UI: a page that sends what a person draws to the inference API over HTTP.

Nothing here imports torch or the model, so the UI can run on another machine or container than
the service; `API_URL` (and the optional `API_KEY`) say where the service is.
"""
