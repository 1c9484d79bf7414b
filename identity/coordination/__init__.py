"""Data coordination: ministries' and telecom operators' records linked to the registry.

Connected sources (education, passports, driving licences, health insurance,
vehicles, telecom subscriptions) deliver records; each is linked to a citizen
by personal id and checked against the registry (name, date of birth, sex).
Disagreements go to the operators' review queue, telecom records feed the
junk-SIM report (SIM rác), and a citizen's linked documents can be shown as
VN1 credentials (the document wallet).
"""
