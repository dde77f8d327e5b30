"""Stage 1, films to a dataset: DICOM/PNG reading, conversion, linking to reports, the
patient split, balancing, augmentation, the manifest and its statistics (`cxrclf dataset build`)."""
