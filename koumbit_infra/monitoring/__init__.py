"""Monitoring as deployed: the koumbit exporter's bundle for the servers, and
Prometheus's scrape configuration and files derived from the inventory.
"""
