"""Residence declarations worked by the commune police: temporary stays (tạm trú), temporary
absences (tạm vắng) and lodging notices (thông báo lưu trú)."""
