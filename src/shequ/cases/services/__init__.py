"""Every write of the case loop. Import from here: `from shequ.cases import services`.

machine.py holds the state machine and `transition()`; intake.py reports (grid, routing,
duplicates, evidence); workflow.py the acts on a case; deadlines.py time limits and the sweep.
"""
