"""Load testkit's pytest plugin for every suite (it imports the docker SDK only when a test asks for the engine)."""

pytest_plugins = ["testkit.plugin"]
