"""The DICOM PS3.15 Annex E Basic Application Level Confidentiality Profile, as data.

:data:`BASIC_PROFILE_CODES` holds the action code the standard's Table E.1-1 gives each
attribute in the Basic Profile column (attributes grouped by topic in :data:`PROFILE_GROUPS`);
:data:`BASIC_PROFILE` holds the single action this package applies:

========  ==================================================================================
Code      Meaning, and what :func:`~datamint.imaging.dicom_anonymize.anonymize_dataset` does
========  ==================================================================================
``X``     remove the attribute
``Z``     replace with an empty value (dates and times that most objects require get a dummy)
``D``     replace with a dummy value of the right VR (sequences: cleaned item by item)
``K``     keep (sequences: cleaned item by item)
``C``     clean: handled like ``D``
``U``     replace UIDs with new ones, consistently through a ``UidMapper`` (sequences: kept,
          their UIDs replaced item by item)
========  ==================================================================================

Composite codes resolve as follows: ``Z/D`` → ``Z``; ``X/Z``, ``X/D`` and ``X/Z/D`` → ``X``
(removal is always allowed for the type-3 attributes of classic image objects);
``X/Z/U*`` → ``U`` (reference sequences are kept, their instance UIDs replaced, so references
between de-identified instances stay valid).

The table covers the attributes of Table E.1-1 that occur in image, structured-report,
presentation-state, encapsulated-document, RT and specimen objects. Private attributes,
curve data (groups 50xx) and overlays (groups 60xx) are handled by rule in the anonymizer.
"""

from __future__ import annotations

from pydicom.datadict import tag_for_keyword

__all__ = ["BASIC_PROFILE", "BASIC_PROFILE_CODES", "PROFILE_GROUPS", "resolve_action"]

PROFILE_GROUPS: dict[str, str] = {
    "Patient": """
        PatientName Z, PatientID Z/D, IssuerOfPatientID X, IssuerOfPatientIDQualifiersSequence X,
        PatientBirthDate Z, PatientBirthTime X, PatientSex Z, PatientAge X, PatientSize X,
        PatientWeight X, PatientAddress X, PatientBirthName X, PatientMotherBirthName X,
        OtherPatientIDs X, OtherPatientIDsSequence X, OtherPatientNames X, PatientTelephoneNumbers X,
        PatientTelecomInformation X, PatientReligiousPreference X, PatientComments X, EthnicGroup X,
        Occupation X, MilitaryRank X, BranchOfService X, MedicalRecordLocator X, MedicalAlerts X,
        Allergies X, AdditionalPatientHistory X, SmokingStatus X, PregnancyStatus X,
        LastMenstrualDate X, PatientSexNeutered X/Z, CountryOfResidence X, RegionOfResidence X,
        InsurancePlanIdentification X, PatientInsurancePlanCodeSequence X,
        PatientPrimaryLanguageCodeSequence X, PatientPrimaryLanguageModifierCodeSequence X,
        ResponsiblePerson X, ResponsibleOrganization X, ReferencedPatientSequence X,
        ReferencedPatientPhotoSequence X, ReferencedPatientAliasSequence X, PatientState X,
        PatientTransportArrangements X, SpecialNeeds X, PatientInstitutionResidence X
    """,
    "Clinical trial": """
        ClinicalTrialSponsorName D, ClinicalTrialProtocolID D, ClinicalTrialProtocolName Z,
        ClinicalTrialSiteID Z, ClinicalTrialSiteName Z, ClinicalTrialSubjectID D,
        ClinicalTrialSubjectReadingID D, ClinicalTrialTimePointID Z,
        ClinicalTrialTimePointDescription X, ClinicalTrialCoordinatingCenterName Z,
        ClinicalTrialSeriesID X, ClinicalTrialSeriesDescription X,
        ClinicalTrialProtocolEthicsCommitteeName D,
        ClinicalTrialProtocolEthicsCommitteeApprovalNumber X
    """,
    "Study, visit and request": """
        StudyInstanceUID U, StudyDate Z, StudyTime Z, StudyID Z, AccessionNumber Z, StudyDescription X,
        StudyComments X, StudyIDIssuer X, ReferringPhysicianName Z, ReferringPhysicianAddress X,
        ReferringPhysicianTelephoneNumbers X, ReferringPhysicianIdentificationSequence X,
        ConsultingPhysicianName Z, ConsultingPhysicianIdentificationSequence X, PhysiciansOfRecord X,
        PhysiciansOfRecordIdentificationSequence X, NameOfPhysiciansReadingStudy X,
        PhysiciansReadingStudyIdentificationSequence X, RequestingPhysician X, RequestingService X,
        ReasonForStudy X, ReferencedStudySequence X/Z, AdmittingDiagnosesDescription X,
        AdmittingDiagnosesCodeSequence X, AdmissionID X, IssuerOfAdmissionIDSequence X, AdmittingDate X,
        AdmittingTime X, DischargeDate X, DischargeTime X, DischargeDiagnosisDescription X,
        CurrentPatientLocation X, VisitComments X, ReasonForVisit X, ReasonForVisitCodeSequence X,
        ServiceEpisodeID X, ServiceEpisodeDescription X, IssuerOfServiceEpisodeIDSequence X,
        ScheduledAdmissionDate X, ScheduledAdmissionTime X, ScheduledDischargeDate X,
        ScheduledDischargeTime X, ScheduledPatientInstitutionResidence X, StudyArrivalDate X,
        StudyArrivalTime X, StudyCompletionDate X, StudyCompletionTime X, StudyReadDate X,
        StudyReadTime X, StudyVerifiedDate X, StudyVerifiedTime X, ScheduledStudyStartDate X,
        ScheduledStudyStartTime X, ScheduledStudyStopDate X, ScheduledStudyStopTime X,
        ScheduledStudyLocation X, ScheduledStudyLocationAETitle X, RequestAttributesSequence X,
        RequestedProcedureDescription X/Z, RequestedProcedureID X, RequestedProcedureComments X,
        RequestedProcedureLocation X, ReasonForTheRequestedProcedure X,
        ReasonForRequestedProcedureCodeSequence X, RequestedContrastAgent X,
        ImagingServiceRequestComments X, PlacerOrderNumberImagingServiceRequest Z,
        FillerOrderNumberImagingServiceRequest Z, OrderEnteredBy X, OrderEntererLocation X,
        OrderCallbackPhoneNumber X, OrderCallbackTelecomInformation X,
        ReasonForTheImagingServiceRequest X, IssueDateOfImagingServiceRequest X,
        IssueTimeOfImagingServiceRequest X, NamesOfIntendedRecipientsOfResults X,
        IntendedRecipientsOfResultsIdentificationSequence X
    """,
    "Series, procedure step, protocol": """
        SeriesInstanceUID U, SeriesDate X/D, SeriesTime X/D, SeriesDescription X,
        RequestedSeriesDescription X, ProtocolName X/D, OperatorsName X/Z/D,
        OperatorIdentificationSequence X/D, PerformingPhysicianName X,
        PerformingPhysicianIdentificationSequence X, PerformedProcedureStepID X,
        PerformedProcedureStepDescription X, PerformedProcedureStepStartDate X,
        PerformedProcedureStepStartTime X, PerformedProcedureStepEndDate X,
        PerformedProcedureStepEndTime X, PerformedStationAETitle X, PerformedStationName X,
        PerformedStationNameCodeSequence X, PerformedLocation X, CommentsOnThePerformedProcedureStep X,
        ReferencedPerformedProcedureStepSequence X/Z/D, ScheduledProcedureStepID X,
        ScheduledProcedureStepDescription X, ScheduledProcedureStepStartDate X,
        ScheduledProcedureStepStartTime X, ScheduledProcedureStepEndDate X,
        ScheduledProcedureStepEndTime X, ScheduledProcedureStepLocation X,
        ScheduledPerformingPhysicianName X, ScheduledPerformingPhysicianIdentificationSequence X,
        ScheduledStationName X, ScheduledStationAETitle X, ScheduledHumanPerformersSequence X,
        ActualHumanPerformersSequence X, HumanPerformerName X, HumanPerformerOrganization X,
        PreMedication X, AcquisitionComments X, AcquisitionProtocolDescription X,
        CommentsOnRadiationDose X, FrameOfReferenceUID U, SynchronizationFrameOfReferenceUID U,
        ReferencedFrameOfReferenceUID U, RelatedFrameOfReferenceUID U, SourceFrameOfReferenceUID U
    """,
    "Institution and equipment": """
        InstitutionName X/Z/D, InstitutionAddress X, InstitutionCodeSequence X/Z/D,
        InstitutionalDepartmentName X, InstitutionalDepartmentTypeCodeSequence X, StationName X/Z/D,
        StationAETitle X, RetrieveAETitle X, NetworkID X, DeviceSerialNumber X/Z/D, DeviceUID U,
        DeviceDescription X, LongDeviceDescription X, ManufacturerDeviceClassUID U,
        UniqueDeviceIdentifier X, UDISequence X, GantryID X, GeneratorID X, CassetteID X, PlateID X,
        DetectorID X/D, DateOfLastCalibration X, TimeOfLastCalibration X, DateTimeOfLastCalibration X,
        DateOfLastDetectorCalibration X/D, TimeOfLastDetectorCalibration X/D,
        TransducerIdentificationSequence X, SourceManufacturer X, SourceSerialNumber X/Z,
        TreatmentMachineName X/Z
    """,
    "Instance, acquisition and image": """
        SOPInstanceUID U, InstanceCreationDate X/D, InstanceCreationTime X/Z/D, InstanceCreatorUID U,
        InstanceCoercionDateTime X, ContentDate Z/D, ContentTime Z/D, AcquisitionDate X/Z,
        AcquisitionTime X/Z, AcquisitionDateTime X/Z/D, FrameAcquisitionDateTime D,
        FrameReferenceDateTime D, StartAcquisitionDateTime X/D, EndAcquisitionDateTime X/D,
        DateOfSecondaryCapture X, TimeOfSecondaryCapture X, TimezoneOffsetFromUTC X, ImageComments X,
        FrameComments X, ImagePresentationComments X, IdentifyingComments X, DerivationDescription X,
        AcquisitionDeviceProcessingDescription X/D, IconImageSequence X, ReferencedImageSequence X/Z/U*,
        SourceImageSequence X/Z/U*, ReferencedSOPInstanceUID U, ReferencedSOPInstanceUIDInFile U,
        FailedSOPInstanceUIDList U, IrradiationEventUID U, ConcatenationUID U,
        DimensionOrganizationUID U, StorageMediaFileSetUID U, TargetUID U, TrackingUID U,
        TransactionUID U, PaletteColorLookupTableUID U, LargePaletteColorLookupTableUID U,
        ContrastBolusAgent Z/D, ContrastBolusStartTime X, ContrastBolusStopTime X,
        RadiopharmaceuticalStartTime X, RadiopharmaceuticalStopTime X,
        RadiopharmaceuticalStartDateTime X, RadiopharmaceuticalStopDateTime X,
        InterventionDrugStartTime X, InterventionDrugStopTime X,
        RespiratoryMotionCompensationTechniqueDescription X, ModifiedImageDate X, ModifiedImageTime X,
        ModifiedImageDescription X, ModifyingDeviceID X, OriginalAttributesSequence X,
        ModifiedAttributesSequence X, DigitalSignaturesSequence X, DigitalSignatureUID U,
        DataSetTrailingPadding X, CurveDate X, CurveTime X, OverlayDate X, OverlayTime X,
        TextComments X, TextString X, Arbitrary X
    """,
    "Structured reports, presentation states, documents": """
        ContentCreatorName Z, ContentCreatorIdentificationCodeSequence X, ContentSequence D,
        VerifyingObserverName D, VerifyingObserverSequence D,
        VerifyingObserverIdentificationCodeSequence Z, VerifyingOrganization D, VerificationDateTime D,
        AuthorObserverSequence X, ParticipantSequence X, ParticipationDateTime Z,
        CustodialOrganizationSequence X, PersonName D, PersonAddress X, PersonTelephoneNumbers X,
        PersonTelecomInformation X, PersonIdentificationCodeSequence D, ObservationDateTime X/D,
        ObservationUID U, Date D, Time D, DateTime D, UID U, ReferencedDateTime D,
        GraphicAnnotationSequence D, PresentationCreationDate X, PresentationCreationTime X,
        EncapsulatedDocument D, TopicTitle X, TopicSubject X, TopicAuthor X, TopicKeywords X,
        InterpretationAuthor X, InterpretationText X, InterpretationRecorder X,
        InterpretationTranscriber X, InterpretationDiagnosisDescription X,
        InterpretationApproverSequence X, PhysicianApprovingInterpretation X, ResultsComments X,
        Impressions X, DistributionName X, DistributionAddress X, Originator X, ReceivingAE X,
        RequestingAE X, DestinationAE D
    """,
    "Specimens": """
        SpecimenAccessionNumber X, SpecimenIdentifier D, SpecimenUID U, SpecimenShortDescription X,
        SpecimenDetailedDescription X, ContainerIdentifier D, ContainerDescription X, SlideIdentifier X,
        FiducialUID U
    """,
    "Radiotherapy": """
        StructureSetLabel D, StructureSetName X, StructureSetDescription X, StructureSetDate Z,
        StructureSetTime Z, ROIName Z, ROIDescription X, ROIGenerationDescription X, ROIInterpreter Z,
        ROIObservationLabel X, ROIObservationDescription X, RTPlanLabel D, RTPlanName X,
        RTPlanDescription X, RTPlanDate X/D, RTPlanTime X/D, ReviewerName X/Z, ReviewDate Z,
        ReviewTime Z, PrescriptionDescription X, TreatmentSites X, FractionGroupDescription X,
        DoseReferenceUID U, DoseReferenceDescription X, BeamDescription X, FixationDeviceDescription X,
        ShieldingDeviceDescription X, SetupTechniqueDescription X, TreatmentDate X/D, TreatmentTime X/D,
        FirstTreatmentDate X/D, MostRecentTreatmentDate X/D
    """,
}
"""Topic → comma-separated ``Keyword CODE`` pairs from Table E.1-1 (Basic Profile column)."""


def resolve_action(code: str) -> str:
    """Return the single action applied for a (possibly composite) Table E.1-1 code.

    Args:
        code: An action code such as ``"X"``, ``"Z/D"`` or ``"X/Z/U*"``.

    Returns:
        One of ``"X"``, ``"Z"``, ``"D"``, ``"K"``, ``"C"``, ``"U"``.
    """
    if "U" in code:
        return "U"
    if code.startswith("X"):
        return "X"
    return code[0]


def _parse() -> dict[int, str]:
    codes: dict[int, str] = {}
    for text in PROFILE_GROUPS.values():
        for pair in text.split(","):
            keyword, code = pair.split()
            tag = tag_for_keyword(keyword)
            if tag is None:  # pragma: no cover - guarded by a test
                raise RuntimeError(f"unknown DICOM keyword in the profile table: {keyword}")
            codes[tag] = code
    return codes


BASIC_PROFILE_CODES: dict[int, str] = _parse()
"""Tag (as an int, e.g. ``0x00100010``) → the standard's action code for the Basic Profile."""

BASIC_PROFILE: dict[int, str] = {tag: resolve_action(code) for tag, code in BASIC_PROFILE_CODES.items()}
"""Tag → the single action applied (``X``, ``Z``, ``D``, ``K``, ``C`` or ``U``)."""
