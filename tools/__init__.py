"""Tools that run the program offline: the plan and cost estimate (tools/plan.py) and its harness."""
