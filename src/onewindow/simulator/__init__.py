"""The traffic simulator: drives a running platform through its HTTP API as every party.

Vessels discharge containers, enterprises file, customs and CIQ accept (a few
reject; the enterprise files again), decide whether to inspect, inspect
(jointly or, with matching off, one agency at a time), release (now and then
hold and release again) and the terminal lets the goods leave. The traffic is
planned first from a seed (:mod:`.plan`, pure), then played on the platform's
simulated time (:mod:`.driver`), then measured from the platform's own
records (:mod:`.measure`). ``onewindow simulate --compare`` plays the same
traffic on two platforms it starts itself, matching on and off
(:mod:`.compare`). See docs/simulator.md.
"""
