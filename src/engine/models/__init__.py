"""Domain dataclasses: what storages return and services pass around."""
