"""cxrlabel: Chinese chest-film report -> five-region states, labels and evidence."""
