"""What leaves the instructor's machine: pack, release (with its leak scan), Gradescope/CI autograders."""
