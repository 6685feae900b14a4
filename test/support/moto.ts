export { MOTO_ENV, type Moto, motoClientConfig, startMoto } from "../../src/cli/moto";
