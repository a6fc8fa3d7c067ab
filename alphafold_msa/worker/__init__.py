"""The RunPod serverless worker: one job in, one result out."""
