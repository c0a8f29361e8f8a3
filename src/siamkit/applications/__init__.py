"""Worked applications of siamkit: complete experiments built from the library's parts."""
