// Provinces and communes (public, GET /api/v1/admin-units/...), cached for the page's life.
import { api } from "./session.js";

let provinces = null;
const communes = new Map();

/** [{code, name, kind}] of the 34 provinces. */
export function listProvinces() {
  if (!provinces) provinces = api.get("/api/v1/admin-units/provinces").catch((error) => {
    provinces = null;
    throw error;
  });
  return provinces;
}

/** [{code, name, kind, province_code}] of one province's communes. */
export function listCommunes(province) {
  if (!communes.has(province)) {
    communes.set(province, api.get(`/api/v1/admin-units/provinces/${encodeURIComponent(province)}/communes`)
      .catch((error) => {
        communes.delete(province);
        throw error;
      }));
  }
  return communes.get(province);
}

/** A function code -> "Name (code)" for the communes of ``provinceCodes`` (unknown: the code). */
export async function communeNamer(provinceCodes) {
  const names = new Map();
  const lists = await Promise.all([...new Set(provinceCodes)].filter(Boolean)
    .map((code) => listCommunes(code).catch(() => [])));
  for (const list of lists) for (const unit of list) names.set(unit.code, unit.name);
  return (code) => (code ? (names.has(code) ? `${names.get(code)} (${code})` : code) : "");
}
