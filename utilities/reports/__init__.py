"""Incident reports (tố giác tội phạm): filed by citizens, worked by the police of the place."""
