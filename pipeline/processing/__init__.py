"""The worker's record path without Faust: routing, outbox, output counting."""
