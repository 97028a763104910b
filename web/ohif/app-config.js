/** OHIF Viewer's configuration for Datamint (served at /ohif/app-config.js; see docs/dicomweb.md).
 *
 * The viewer runs on the server's origin, below /ohif/, and reads the organization's DICOM
 * resources over DICOMweb at /dicomweb with the web app's session cookie (sign in at / first):
 * QIDO-RS for the study list, WADO-RS metadata and frames for the viewports.
 */
const datamintDicomweb = window.location.origin + '/dicomweb';

window.config = {
  name: 'datamint',
  routerBasename: '/ohif',
  extensions: [],
  modes: [],
  customizationService: {},
  showStudyList: true,
  maxNumberOfWebWorkers: 3,
  showWarningMessageForCrossOrigin: false,
  showCPUFallbackMessage: true,
  showLoadingIndicator: true,
  experimentalStudyBrowserSort: false,
  strictZSpacingForVolumeViewport: true,
  groupEnabledModesFirst: true,
  allowMultiSelectExport: false,
  maxNumRequests: { interaction: 100, thumbnail: 5, prefetch: 10 },
  showErrorDetails: 'always',
  investigationalUseDialog: { option: 'never' },
  defaultDataSourceName: 'datamint',
  dataSources: [
    {
      namespace: '@ohif/extension-default.dataSourcesModule.dicomweb',
      sourceName: 'datamint',
      configuration: {
        friendlyName: 'Datamint',
        name: 'datamint',
        wadoUriRoot: datamintDicomweb,
        qidoRoot: datamintDicomweb,
        wadoRoot: datamintDicomweb,
        qidoSupportsIncludeField: true,
        supportsReject: false,
        supportsStow: true,
        imageRendering: 'wadors',
        thumbnailRendering: 'wadors',
        enableStudyLazyLoad: true,
        supportsFuzzyMatching: true,
        supportsWildcard: true,
        staticWado: false,
        singlepart: 'bulkdata,video',
        bulkDataURI: { enabled: true, relativeResolution: 'studies' },
        omitQuotationForMultipartRequest: true,
      },
    },
  ],
  httpErrorHandler: error => {
    // 401: not signed in to Datamint in this browser (the viewer uses the web app's session)
    console.warn('DICOMweb request failed', error.status);
  },
};
