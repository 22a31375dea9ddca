"""Dataset audit: what gives the label away (words, speakers, length), duplicates, the baseline to beat."""
