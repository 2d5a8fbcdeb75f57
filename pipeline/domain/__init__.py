"""The pure domain core: events, clocks, ticket state and SLA decisions. No Faust, no I/O."""
