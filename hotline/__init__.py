"""Hotline: the collections phone line of a card issuer.

Importing the package does no work: the web app is built by hotline.web.create_app, other
processes by hotline.bootstrap.bootstrap.
"""
