// Cornerstone3D image loader and metadata provider for the server's slice API.
//
// Image ids look like `datamint:<resource id>/<plane>/<index>`. The geometry of every slice comes
// from GET /resources/{id}/slices (registered before the viewport asks), the values of one slice
// from GET /resources/{id}/slices/{plane}/{index}: raw little-endian arrays, already in modality
// units (Hounsfield for CT), so Cornerstone's VOI (window/level) applies to them directly.
import { imageLoader, metaData, utilities, type Types } from "@cornerstonejs/core";

export type Plane = "axial" | "sagittal" | "coronal";

export interface PlaneGeometry {
  count: number;
  rows: number;
  columns: number;
  origins: number[][];
  row_cosines: number[];
  column_cosines: number[];
  spacing: [number, number]; // between rows, between columns
}

export interface SliceGeometry {
  kind: "dicom" | "nifti" | "image" | "video";
  samples: number;
  modality: string | null;
  photometric: string;
  window: { center: number; width: number } | null;
  patient_space: boolean;
  planes: Partial<Record<Plane, PlaneGeometry>>;
}

const SCHEME = "datamint";
const geometries = new Map<string, SliceGeometry>();

export function registerGeometry(resourceId: string, geometry: SliceGeometry): void {
  geometries.set(resourceId, geometry);
}

export function imageId(resourceId: string, plane: Plane, index: number): string {
  return `${SCHEME}:${resourceId}/${plane}/${index}`;
}

export function imageIdsFor(resourceId: string, plane: Plane): string[] {
  const count = geometries.get(resourceId)?.planes[plane]?.count ?? 0;
  return Array.from({ length: count }, (_, k) => imageId(resourceId, plane, k));
}

export function parseImageId(id: string): { resourceId: string; plane: Plane; index: number } | null {
  const m = /^datamint:([^/]+)\/(axial|sagittal|coronal)\/(\d+)$/.exec(id);
  return m ? { resourceId: m[1], plane: m[2] as Plane, index: Number(m[3]) } : null;
}

function planeOf(id: string) {
  const parsed = parseImageId(id);
  if (!parsed) return null;
  const geometry = geometries.get(parsed.resourceId);
  const plane = geometry?.planes[parsed.plane];
  return geometry && plane ? { ...parsed, geometry, planeGeometry: plane } : null;
}

function provider(type: string, id: string): unknown {
  const found = planeOf(id);
  if (!found) return undefined;
  const { geometry, planeGeometry: plane, index, resourceId } = found;
  const [rowSpacing, columnSpacing] = plane.spacing;
  switch (type) {
    case "imagePlaneModule":
      return {
        frameOfReferenceUID: `datamint-${resourceId}`,
        rows: plane.rows,
        columns: plane.columns,
        imageOrientationPatient: [...plane.row_cosines, ...plane.column_cosines],
        rowCosines: plane.row_cosines,
        columnCosines: plane.column_cosines,
        imagePositionPatient: plane.origins[index],
        pixelSpacing: [rowSpacing, columnSpacing],
        rowPixelSpacing: rowSpacing,
        columnPixelSpacing: columnSpacing,
        sliceThickness: sliceStep(plane),
        spacingBetweenSlices: sliceStep(plane),
      };
    case "imagePixelModule":
      return {
        samplesPerPixel: geometry.samples,
        photometricInterpretation: geometry.samples === 3 ? "RGB" : geometry.photometric,
        rows: plane.rows,
        columns: plane.columns,
        bitsAllocated: 16,
        bitsStored: 16,
        highBit: 15,
        pixelRepresentation: 1,
      };
    case "generalSeriesModule":
      return { modality: geometry.modality ?? (geometry.kind === "nifti" ? "MR" : "OT"), seriesInstanceUID: resourceId };
    case "modalityLutModule":
      return { rescaleSlope: 1, rescaleIntercept: 0 };
    case "voiLutModule":
      return geometry.window ? { windowCenter: [geometry.window.center], windowWidth: [geometry.window.width] } : undefined;
    case "generalImageModule":
      return { instanceNumber: index + 1 };
    default:
      return undefined;
  }
}

function sliceStep(plane: PlaneGeometry): number {
  if (plane.origins.length < 2) return 1;
  const [a, b] = plane.origins;
  return Math.hypot(b[0] - a[0], b[1] - a[1], b[2] - a[2]) || 1;
}

const ARRAYS = { int16: Int16Array, float32: Float32Array, uint8: Uint8Array } as const;

function loadImage(id: string): Types.IImageLoadObject {
  const controller = new AbortController();
  const promise = (async (): Promise<Types.IImage> => {
    const found = planeOf(id);
    if (!found) throw new Error(`Unknown image ${id}: its resource's geometry is not registered`);
    const { resourceId, plane: planeName, index, geometry } = found;
    const response = await fetch(`/resources/${resourceId}/slices/${planeName}/${index}`, {
      credentials: "same-origin", signal: controller.signal,
    });
    if (!response.ok) {
      const body = await response.json().catch(() => null);
      throw new Error(`Slice ${index + 1} could not be loaded: ${body?.message ?? response.status}`);
    }
    const rows = Number(response.headers.get("x-slice-rows"));
    const columns = Number(response.headers.get("x-slice-columns"));
    const samples = Number(response.headers.get("x-slice-samples"));
    const dtype = response.headers.get("x-slice-dtype") as keyof typeof ARRAYS;
    const Array_ = ARRAYS[dtype];
    if (!Array_) throw new Error(`Unsupported slice type ${dtype}`);
    const scalarData = new Array_(await response.arrayBuffer());
    let min = Infinity;
    let max = -Infinity;
    for (let i = 0; i < scalarData.length; i++) {
      const v = scalarData[i];
      if (v < min) min = v;
      if (v > max) max = v;
    }
    const voxelManager = utilities.VoxelManager.createImageVoxelManager({
      height: rows, width: columns, numberOfComponents: samples, scalarData, id,
    });
    const [rowSpacing, columnSpacing] = found.planeGeometry.spacing;
    // 8-bit images and colour are shown as they are (0..255); other values with the file's window
    const eightBit = samples === 3 || geometry.kind === "image" || geometry.kind === "video";
    const window = eightBit ? { center: 128, width: 256 }
      : geometry.window ?? { center: (max + min) / 2, width: Math.max(max - min, 1) };
    const image = {
      imageId: id,
      minPixelValue: min,
      maxPixelValue: max,
      slope: 1,
      intercept: 0,
      windowCenter: window.center,
      windowWidth: window.width,
      getPixelData: () => voxelManager.getScalarData(),
      getCanvas: undefined,
      rows, columns, height: rows, width: columns,
      color: samples === 3,
      rgba: false,
      numberOfComponents: samples,
      columnPixelSpacing: columnSpacing,
      rowPixelSpacing: rowSpacing,
      invert: geometry.photometric === "MONOCHROME1",
      photometricInterpretation: samples === 3 ? "RGB" : geometry.photometric,
      sizeInBytes: scalarData.byteLength,
      dataType: scalarData.constructor.name,
      voxelManager,
      FrameOfReferenceUID: `datamint-${resourceId}`,
    };
    return image as unknown as Types.IImage;
  })();
  return { promise, cancelFn: () => controller.abort() } as unknown as Types.IImageLoadObject;
}

let registered = false;

export function registerLoader(): void {
  if (registered) return;
  registered = true;
  imageLoader.registerImageLoader(SCHEME, loadImage as any);
  metaData.addProvider(provider, 10000);
}
