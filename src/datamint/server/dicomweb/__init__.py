"""DICOMweb (QIDO-RS, WADO-RS, STOW-RS) over the organization's DICOM resources."""
