//! The application of a node: the HTTP API, `/ws` and `/socket.io/` on one router, with
//! the routes its role serves. This is where the transports meet the HTTP edge; neither
//! `http` nor the chat layer names a transport.

use std::sync::Arc;

use axum::middleware;
use axum::routing::get;
use axum::{Json, Router};
use utoipa::OpenApi as _;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::config::Role;
use crate::http::{
    self, AppState, accounts, files, health, messages, moderation, openapi, people, rooms, search,
    web,
};
use crate::sio::SocketIoSettings;
use crate::ws::WsSettings;

/// The settings of the two socket transports, beside the state every request shares.
#[derive(Debug, Clone, Copy)]
pub struct Transports {
    pub ws: WsSettings,
    pub socketio: SocketIoSettings,
}

/// The whole HTTP application of a node.
pub fn router(state: AppState, transports: Transports, role: Role) -> Router {
    let mut api = OpenApiRouter::with_openapi(openapi::ApiDoc::openapi());
    if role.serves_accounts() {
        api = api
            .routes(routes!(accounts::register))
            .routes(routes!(accounts::login))
            .routes(routes!(accounts::logout))
            .routes(routes!(
                accounts::validate_token,
                accounts::validate_token_in_body
            ));
    }
    if role.serves_chat() {
        api = api
            .routes(routes!(accounts::me))
            .routes(routes!(accounts::set_status))
            .routes(routes!(accounts::my_rooms))
            .routes(routes!(accounts::set_my_room))
            .routes(routes!(rooms::list_rooms, rooms::create_room))
            .routes(routes!(
                rooms::get_room,
                rooms::update_room,
                rooms::archive_room
            ))
            .routes(routes!(rooms::room_messages))
            .routes(routes!(search::search))
            .routes(routes!(files::upload))
            .routes(routes!(files::set_cookie, files::clear_cookie))
            .routes(routes!(files::download))
            .routes(routes!(files::thumbnail))
            .routes(routes!(messages::edit_message, messages::delete_message))
            .routes(routes!(messages::react, messages::unreact))
            .routes(routes!(rooms::room_members))
            .routes(routes!(people::search_users))
            .routes(routes!(people::open_dm))
            .routes(routes!(people::list_blocks))
            .routes(routes!(people::block, people::unblock))
            .routes(routes!(moderation::invite))
            .routes(routes!(moderation::my_invites))
            .routes(routes!(moderation::decline_invite))
            .routes(routes!(moderation::kick))
            .routes(routes!(moderation::ban, moderation::unban))
            .routes(routes!(moderation::mute, moderation::unmute))
            .routes(routes!(moderation::set_role))
            .routes(routes!(moderation::audit));
    }
    let (api, openapi) = api.routes(routes!(health::healthz)).split_for_parts();
    let openapi = Arc::new(openapi);
    let mut app = api
        .route(
            "/api/openapi.json",
            get(move || async move { Json(openapi.as_ref().clone()) }),
        )
        .route("/metrics", get(health::metrics));
    if role.serves_chat() {
        app = app
            .merge(crate::ws::routes(state.clone(), transports.ws))
            .route("/", get(web::index))
            .route("/{file}", get(web::file));
    }
    let app = app
        .layer(middleware::from_fn_with_state(
            state.clone(),
            http::count_responses,
        ))
        .with_state(state.clone());
    let app = if role.serves_chat() {
        // Socket.io answers /socket.io/ before the router; its handshake is origin-checked
        // too.
        http::with_common_layers(app)
            .layer(crate::sio::layer(state.clone(), transports.socketio))
            .layer(middleware::from_fn_with_state(state, crate::sio::admit))
    } else {
        http::with_common_layers(app)
    };
    app.layer(middleware::from_fn(http::limit_headers))
}
