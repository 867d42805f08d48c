"""Container tests: the production image run on the engine, through testkit."""
