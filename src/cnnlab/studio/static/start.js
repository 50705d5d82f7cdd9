/* Starts the page once every panel's script has registered (loaded last). */
"use strict";
Studio.start().catch((e) => Studio.showError(e.message));
