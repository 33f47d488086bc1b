import "./styles.css";
import { tauriApi } from "./api";
import { App } from "./app";

const root = document.getElementById("app");
if (root) void new App(tauriApi, root).start();
