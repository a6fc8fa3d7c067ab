"""What a prediction produces: ranked models, structure files, scores, the summary and the plots."""
