// WGS-84 → the datum of the map tiles, applied at the edge when drawing (ARCHITECTURE §6).
// Same formulas and constants as src/shequ/core/geo.py; data stays WGS-84 everywhere else.

export type TilesCrs = "wgs84" | "cgcs2000" | "gcj02" | "bd09";
export type LonLat = [number, number];

const KRASOVSKY_A = 6378245.0;
const KRASOVSKY_E2 = 0.00669342162296594323;
const X_PI = (Math.PI * 3000.0) / 180.0;

/** True where GCJ-02 leaves points unshifted (the customary rough mainland bounding box). */
export function outOfChina(lon: number, lat: number): boolean {
  return !(lon >= 72.004 && lon <= 137.8347 && lat >= 0.8293 && lat <= 55.8271);
}

function gcjDelta(lon: number, lat: number): LonLat {
  const x = lon - 105.0;
  const y = lat - 35.0;
  const pi = Math.PI;
  const common = ((20.0 * Math.sin(6.0 * x * pi) + 20.0 * Math.sin(2.0 * x * pi)) * 2.0) / 3.0;
  let dlat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * Math.sqrt(Math.abs(x)) + common;
  dlat += ((20.0 * Math.sin(y * pi) + 40.0 * Math.sin((y / 3.0) * pi)) * 2.0) / 3.0;
  dlat += ((160.0 * Math.sin((y / 12.0) * pi) + 320.0 * Math.sin((y * pi) / 30.0)) * 2.0) / 3.0;
  let dlon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * Math.sqrt(Math.abs(x)) + common;
  dlon += ((20.0 * Math.sin(x * pi) + 40.0 * Math.sin((x / 3.0) * pi)) * 2.0) / 3.0;
  dlon += ((150.0 * Math.sin((x / 12.0) * pi) + 300.0 * Math.sin((x / 30.0) * pi)) * 2.0) / 3.0;
  const rad = (lat / 180.0) * pi;
  const magic = 1.0 - KRASOVSKY_E2 * Math.sin(rad) ** 2;
  const sqrtMagic = Math.sqrt(magic);
  dlat = (dlat * 180.0) / (((KRASOVSKY_A * (1.0 - KRASOVSKY_E2)) / (magic * sqrtMagic)) * pi);
  dlon = (dlon * 180.0) / ((KRASOVSKY_A / sqrtMagic) * Math.cos(rad) * pi);
  return [dlon, dlat];
}

/** WGS-84 → GCJ-02 (Amap, Tencent). Points outside mainland China are returned unchanged. */
export function wgs84ToGcj02(lon: number, lat: number): LonLat {
  if (outOfChina(lon, lat)) return [lon, lat];
  const [dlon, dlat] = gcjDelta(lon, lat);
  return [lon + dlon, lat + dlat];
}

/** GCJ-02 → BD-09 (Baidu). */
export function gcj02ToBd09(lon: number, lat: number): LonLat {
  const z = Math.hypot(lon, lat) + 0.00002 * Math.sin(lat * X_PI);
  const theta = Math.atan2(lat, lon) + 0.000003 * Math.cos(lon * X_PI);
  return [z * Math.cos(theta) + 0.0065, z * Math.sin(theta) + 0.006];
}

/** WGS-84 → the tiles' datum. CGCS2000 is treated as WGS-84 (centimetres apart), as in core.geo. */
export function toTilesCrs(lon: number, lat: number, crs: string): LonLat {
  switch (crs) {
    case "gcj02":
      return wgs84ToGcj02(lon, lat);
    case "bd09": {
      if (outOfChina(lon, lat)) return [lon, lat];
      const [glon, glat] = wgs84ToGcj02(lon, lat);
      return gcj02ToBd09(glon, glat);
    }
    default:
      return [lon, lat];
  }
}

/** The tiles' datum → WGS-84, for a point the user placed on the map (the inverse of
 * `toTilesCrs`, by fixed-point iteration: the shift varies slowly, so a few steps reach
 * centimetres, as `gcj02_to_wgs84` in core.geo). */
export function fromTilesCrs(lon: number, lat: number, crs: string): LonLat {
  if (crs !== "gcj02" && crs !== "bd09") return [lon, lat];
  let [wlon, wlat] = [lon, lat];
  for (let i = 0; i < 8; i++) {
    const [tlon, tlat] = toTilesCrs(wlon, wlat, crs);
    const [dlon, dlat] = [tlon - lon, tlat - lat];
    wlon -= dlon;
    wlat -= dlat;
    if (Math.abs(dlon) < 1e-9 && Math.abs(dlat) < 1e-9) break;
  }
  return [wlon, wlat];
}
