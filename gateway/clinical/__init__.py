"""Clinical rules as pure functions over records and reference data files (no I/O but loading).

``dosing``: a medication's daily dose against the patient's weight and a reference range.
``screening``: the national screening programme applied to age, sex and past screenings.
"""
