// main.jsx — the Databus web UI: a single-page app over /api/v1 with a
// live store (store.js). Styles come from Bulma plus app.css; there is no
// inline script or style anywhere (the server's CSP is default-src 'self').
import 'bulma/css/bulma.min.css';
import './app.css';
import { render } from 'preact';
import { App } from './app.jsx';

render(<App />, document.getElementById('app'));
