"""The {{ cookiecutter.project_slug }} package: data, features, model, gate and the BentoML service."""
