"""Data coordination: ministries' and telecom operators' records linked to the registry.

Connected sources (education, passports, driving licences, health insurance,
vehicles, telecom subscriptions) deliver records; each is linked to a citizen
by personal id and checked against the registry (name, date of birth, sex).
Disagreements go to the operators' review queue, telecom records feed the
junk-SIM report (SIM rác), and a citizen's linked documents can be shown as
VN1 credentials (the document wallet).

There is no ``service.py``: the use cases are modules named by what they do, each
function committing once at its end. ``sources`` registers sources and takes their
API deliveries; ``loader`` loads a source's file (on the batch-import engine of
:mod:`identity.batch_import`, shared with the registry import); ``linker`` links and
writes one batch; ``mismatches`` is the operators' review queue; ``documents`` the
citizen's wallet; ``sim_report`` the telecom report; ``aggregates`` the published
counts; ``kinds`` the record formats; ``generator`` the demo and bench files.
"""
