"""DICOM networking (DIMSE): the C-STORE/C-ECHO/C-FIND listener and its settings."""
