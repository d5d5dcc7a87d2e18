"""Neural-network impact: BNN/TNN inference driven by arraysim error tables (issue 5)."""
