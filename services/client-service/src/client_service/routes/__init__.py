"""The storefront's routers, kept thin: parse, call the API client, render."""
