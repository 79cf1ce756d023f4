"""pipeline_kit."""
