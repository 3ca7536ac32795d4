"""The clearance-time study (WCO Time Release Study method): milestones, stages, published figures."""
