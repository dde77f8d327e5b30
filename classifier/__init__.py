"""cxrclf: image datasets from DICOM plus report labels, and multi-label CNN training."""
