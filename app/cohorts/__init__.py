"""The smart-talent cohort programme (スマート人材育成): applications, endorsement, selection within
a quota and department caps, fieldwork teams with host divisions and mentors, milestones with
versioned submissions, rubric reviews, a progress board and the programme's completion."""
