"""Upgrades from the previous release: in place, blue/green under load, rollback, a failing migration."""
