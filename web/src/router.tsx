import { createBrowserRouter } from 'react-router'

import { Layout } from './components/Layout.tsx'
import { Home } from './routes/Home.tsx'
import { NotFound } from './routes/NotFound.tsx'

// The routes that stay put (DESIGN.md) join here as they are built:
// /console, /lab/:modelId/:tab, /embed/:modelId/:view.
export const router = createBrowserRouter([
  {
    element: <Layout />,
    children: [
      { index: true, element: <Home /> },
      { path: '*', element: <NotFound /> },
    ],
  },
])
