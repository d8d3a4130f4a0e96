"""What is running: worker heartbeats on the status topic, and the ``streamapp status`` report."""
