"""Models: the embedded tiny model, the ChatML chat template, and loading of models and adapters."""
